"""Read the ASan/LSan report files of a sanitized test run; exit 1 if any shows a
memory error, or a leak whose allocation stack passes through sentinelfast's C code.

    python scripts/sanitizer/leaks.py REPORT_DIR

Why a filter and not only suppressions (lsan.supp): LeakSanitizer suppresses a leak
when ANY frame of its allocation stack matches a pattern, and every allocation,
sentinelfast's included, runs inside CPython's frames; a suppression that hides
CPython's own leftovers would hide ours too. The known one: objects referenced only
from the Python frames of daemon threads still running at exit (CPython keeps those
frames in mmap'ed chunks, which LeakSanitizer does not scan) are reported as leaks.
A leak counts as ours when a frame of its allocation stack is in the extension
(_core.*.so) or in csrc/ and the memory is not a Python object: a Python object that our
code created (a stats dict, a reply) and handed to Python belongs to Python afterwards,
and one held by such a daemon-thread frame at exit is indistinguishable, for LeakSanitizer,
from a reference our code forgot to drop. Those are listed apart, not counted: this check
catches C memory (malloc, PyMem_Raw*, OpenSSL, hiredis) that our code leaks, not
reference-count leaks. The others are listed, not counted.
"""
import os
import re
import sys

OURS = re.compile(r"sentinelfast/_core[^ ]*\.so|\bcsrc/|/_core\.cpython")
LEAK_HEADER = re.compile(r"^(Direct|Indirect) leak of ")
# CPython's object allocators: a frame of these below our first frame means the leaked
# memory is a Python object our code created, not C memory our code owns.
OBJECT_ALLOC = re.compile(r" in (gc_alloc|_PyObject_GC_New\w*|_PyObject_New\w*|PyType_GenericAlloc"
                          r"|_PyType_AllocNoTrack|_PyObject_Malloc|PyObject_Malloc) ")


def _is_python_object(block_lines):
    for line in block_lines:
        if OURS.search(line):
            return False
        if OBJECT_ALLOC.search(line):
            return True
    return False


def classify(text):
    """(errors, our_leaks, python_objects, other_leaks): lists of report blocks."""
    errors, ours, objects, others = [], [], [], []
    if "ERROR: AddressSanitizer" in text or "runtime error:" in text:
        errors.append(text)
    blocks, current = [], None
    for line in text.splitlines():
        if LEAK_HEADER.match(line):
            current = [line]
            blocks.append(current)
        elif current is not None:
            if not line.strip():
                current = None
            else:
                current.append(line)
    for block in blocks:
        if not any(OURS.search(line) for line in block):
            others.append("\n".join(block))
        elif _is_python_object(block):
            objects.append("\n".join(block))
        else:
            ours.append("\n".join(block))
    return errors, ours, objects, others


def main(directory):
    failed = False
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), errors="replace") as f:
            text = f.read()
        if not text.strip():
            continue
        errors, ours, objects, others = classify(text)
        for e in errors:
            failed = True
            print(f"==> {name}: sanitizer ERROR:\n{e}", file=sys.stderr)
        for leak in ours:
            failed = True
            print(f"==> {name}: LEAK through sentinelfast's C code:\n{leak}\n", file=sys.stderr)
        if objects:
            print(f"==> {name}: {len(objects)} Python object(s) made by sentinelfast still alive "
                  f"at exit (held by Python; not counted):", file=sys.stderr)
            for leak in objects:
                print("\n".join(leak.splitlines()[:12]), file=sys.stderr)
        if others:
            print(f"==> {name}: {len(others)} leak report(s) with no sentinelfast frame in the "
                  f"allocation stack (CPython's own; not counted):", file=sys.stderr)
            for leak in others:   # the allocation and its nearest callers
                print("\n".join(leak.splitlines()[:8]), file=sys.stderr)
    if failed:
        print("error: the sanitizers reported errors or leaks in sentinelfast (above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
