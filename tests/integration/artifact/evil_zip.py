# Writes a zip whose members try to leave the extraction directory (argv[1]: output path).
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("ok.txt", "fine\n")
    z.writestr("../escaped.txt", "outside\n")
