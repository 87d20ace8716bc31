"""``python -m vidseg.evaluation {ytvis,vos,fbms,mots} --gt ... --pred ... [--out FILE]``."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
