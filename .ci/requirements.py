"""Print the runtime and test requirements of setup.cfg, one word each (for .ci/run)."""

import configparser
from pathlib import Path

config = configparser.ConfigParser()
config.read(Path(__file__).resolve().parent.parent / "setup.cfg")
needed = config["options"]["install_requires"].split() + config["options.extras_require"]["test"].split()
print(" ".join(needed))
