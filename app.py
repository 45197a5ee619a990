"""Launch the clm-gui web app (also the Hugging Face Space entry point).

    python app.py [--host H] [--port P] [--hosted] [--auth USER:PASS ...] [--admin USER ...] [--runs-dir DIR]
    (every option of `python -m clm_gui app`)
"""

import sys

from clm_gui.cli import main

if __name__ == "__main__":
    sys.exit(main(["app", *sys.argv[1:]]))
