"""Put first on the PYTHONPATH of the grader's own nbgrader processes (never a kernel's): a stand-in.

jsonschema imports rfc3987_syntax, when installed, for its optional 'iri' format checker, and that import
builds a Lark grammar: 1.5 s of every nbgrader start, a third of grading a small notebook. Notebook schemas
use no 'iri' format, so the grader goes without it: jsonschema skips the checker when this import fails.
"""

raise ImportError("rfc3987_syntax is left out of classgrade's nbgrader processes (see this file)")
