"""``sentinelfast conf``: configuration files for a described deployment, and their linter.

* ``sentinelfast conf --topology FILE --out DIR`` checks the description
  (:func:`sentinelfast.ops.topology_spec.check_spec`) and, without errors, writes
  ``DIR/<name>/redis.conf`` for each data node and ``DIR/<name>/sentinel.conf`` for each
  Sentinel. Errors: exit 1 and nothing written. Warnings are reported (exit 0, or 1 with
  ``--strict``). ``--check`` only checks.
* ``sentinelfast conf --lint FILE [FILE...]`` reports the directives Redis would not accept,
  with their line numbers (exit 1 when there is one).
"""

from __future__ import annotations

import argparse

from . import EXIT_CANNOT_RUN, EXIT_OK, EXIT_PROBLEM, emit

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add the ``conf`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "conf",
        help="write redis.conf/sentinel.conf for a described topology, or lint such files",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--topology", metavar="FILE", help="the described deployment (JSON, or YAML with the ops extra)")
    what.add_argument("--lint", metavar="FILE", nargs="+", help="redis.conf / sentinel.conf files to check")
    p.add_argument("--out", metavar="DIR", help="where to write the files (with --topology)")
    p.add_argument("--check", action="store_true", help="with --topology: check the description, write nothing")
    p.add_argument("--strict", action="store_true", help="warnings count as problems (exit 1)")
    p.add_argument("--kind", choices=("auto", "redis", "sentinel"), default="auto",
                   help="with --lint: the kind of file (auto: a file with sentinel lines is a sentinel.conf)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``sentinelfast conf`` (see the module docstring)."""
    if args.lint:
        return _lint(args)
    return _generate(args)


def _fail(args, message: str) -> int:
    emit(args, {"ok": False, "error": message}, [f"error: {message}"])
    return EXIT_CANNOT_RUN


def _lint(args) -> int:
    from ..ops.conf_lint import lint_file

    files = []
    for path in args.lint:
        try:
            problems = lint_file(path, args.kind)
        except OSError as e:
            return _fail(args, f"cannot read {path}: {e.strerror or e}")
        files.append({"path": path, "ok": not problems, "problems": [p.as_dict() for p in problems]})
    ok = all(f["ok"] for f in files)
    lines = []
    for f in files:
        if f["ok"]:
            lines.append(f"{f['path']}: ok")
        for p in f["problems"]:
            lines.append(f"{f['path']}:{p['line']}: {p['directive']}: {p['message']}")
    emit(args, {"ok": ok, "files": files}, lines)
    return EXIT_OK if ok else EXIT_PROBLEM


def _generate(args) -> int:
    from ..ops.redis_conf import write_configs
    from ..ops.topology_spec import SpecError, check_spec, load_spec

    if not args.out and not args.check:
        return _fail(args, "--topology needs --out DIR (or --check)")
    try:
        spec = load_spec(args.topology)
    except SpecError as e:
        return _fail(args, str(e))
    findings = check_spec(spec)
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    written = []
    if not errors and not args.check:
        try:
            written = write_configs(spec, args.out)
        except OSError as e:
            return _fail(args, f"cannot write {e.filename or args.out}: {e.strerror or e}")
    problem = bool(errors) or (args.strict and bool(warnings))
    lines = [f"{f.level}: {f.message}" for f in errors + warnings]
    if errors:
        lines.append("nothing written (fix the errors first)" if not args.check else "the description has errors")
    else:
        lines += [f"wrote {p}" for p in written]
        if args.check and not warnings:
            lines.append("ok")
    emit(
        args,
        {
            "ok": not problem,
            "service": spec.service,
            "findings": [f.as_dict() for f in findings],
            "written": written,
        },
        lines,
    )
    return EXIT_PROBLEM if problem else EXIT_OK
