"""The async frame ("context") size of Swift async functions in a built binary: what each level of a suspended call
chain holds on its task's allocator while it waits (an open stream waits minutes in the model call).

    python3 bench/async_frames.py BINARY [REGEX]     # REGEX over mangled names, e.g. 'RunExecution|0A6RunnerV'

Every async function has an "async function pointer" symbol (mangled name ending in `Tu`): a 32-bit relative
offset to the function, then the 32-bit size of the context its caller allocates for it. This reads those from the
ELF file (nm + readelf, both from binutils) and prints the sizes, largest first, with the demangled names
(`swift-demangle` from the toolchain on PATH, or /opt/swift/usr/bin). Standard library only.
"""

import os
import re
import shutil
import struct
import subprocess
import sys


def sections(binary):
    """(virtual address, file offset, size) of every section."""
    out = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        match = re.match(r"\s*\[\s*\d+\]\s+\S+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if match:
            address, offset, size = (int(match.group(i), 16) for i in (1, 2, 3))
            if address:
                found.append((address, offset, size))
    return found


def frame_sizes(binary, pattern):
    names = subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout
    ranges = sections(binary)
    demangle = shutil.which("swift-demangle") or "/opt/swift/usr/bin/swift-demangle"
    sizes = []
    with open(binary, "rb") as data:
        for line in names.splitlines():
            parts = line.split()
            if len(parts) != 3 or not parts[2].endswith("Tu") or not re.search(pattern, parts[2]):
                continue
            address = int(parts[0], 16)
            for start, offset, size in ranges:
                if start <= address < start + size:
                    data.seek(offset + address - start)
                    _, context = struct.unpack("<iI", data.read(8))
                    sizes.append((context, parts[2][:-2]))
                    break
    readable = {}
    if sizes and os.path.exists(demangle):
        text = "\n".join(name for _, name in sizes)
        out = subprocess.run([demangle, "--simplified"], input=text, capture_output=True, text=True).stdout.splitlines()
        readable = dict(zip((name for _, name in sizes), out))
    return sorted(((size, readable.get(name, name)) for size, name in sizes), reverse=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for size, name in frame_sizes(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "."):
        print(f"{size:6d}  {name[:160]}")


if __name__ == "__main__":
    main()
