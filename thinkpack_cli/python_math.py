"""Answers written as Python (sympy) expressions, ``6*X**9 - 2*X**6/5 + C``, as reasoning-gym's golds
are: read with sympy's parser and handed to Math-Verify as the LaTeX sympy prints, so they are
read as the expressions they are, not as LaTeX (where ``**`` is no power: ``2**10`` was 2).

sympy's ``parse_expr`` evaluates the code it builds, so a text is read only when it cannot be
anything but arithmetic: digits, operators and parentheses, one-letter symbols (and a letter with
digits) and the function and constant names below. No dots after a name, no underscores, quotes
or brackets: nothing that reaches an attribute, a builtin or a string.
"""

from __future__ import annotations

import re
from functools import lru_cache

# sympy's own names for what Python-syntax answers use; anything else longer than a letter is not read.
NAMES = frozenset(
    "sqrt exp log ln sin cos tan cot sec csc asin acos atan sinh cosh tanh pi E I oo Abs factorial binomial".split()
)
_BUILDERS = ("Symbol", "Function", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "factorial")
_CHARACTERS = re.compile(r"[0-9A-Za-z+\-*/^().,\s]+")
_WORD = re.compile(r"[A-Za-z]+[0-9]*")
_NOT_A_DECIMAL_POINT = re.compile(r"(?<![0-9])\.|\.(?![0-9])")  # a dot is a decimal point, never an attribute
_PYTHON_OPERATOR = re.compile(r"\*\*|[0-9A-Za-z)]\s*\*\s*[0-9A-Za-z(]")


def is_python_math(text: str) -> bool:
    """Written as Python arithmetic: a ``**`` power or a ``*`` product, and nothing but what ``to_latex`` reads."""
    return (
        _PYTHON_OPERATOR.search(text) is not None
        and _CHARACTERS.fullmatch(text) is not None
        and all(len(word) == 1 or word in NAMES or word[1:].isdigit() for word in _WORD.findall(text))
        and _NOT_A_DECIMAL_POINT.search(text) is None
    )


@lru_cache(maxsize=4096)
def to_latex(text: str) -> str | None:
    """The LaTeX of a Python-syntax expression (unevaluated: ``9**9**9`` stays a tower), None if it is not one."""
    if not is_python_math(text):
        return None
    import sympy
    from sympy.parsing.sympy_parser import implicit_multiplication, parse_expr, standard_transformations

    names = {name: getattr(sympy, name) for name in NAMES if hasattr(sympy, name)} | {"ln": sympy.log}
    try:
        expression = parse_expr(
            text.replace("^", "**"),
            local_dict=names,
            # What the parser's own code calls, and nothing else (sympy's N, S, Q, O stay symbols).
            global_dict={"__builtins__": {}} | {name: getattr(sympy, name) for name in _BUILDERS},
            transformations=(*standard_transformations, implicit_multiplication),  # 5X**4, (1/7)X**2
            evaluate=False,
        )
        return _printer().doprint(expression)
    except Exception:  # a text sympy cannot read (``3*/4``) is left to Math-Verify as it was
        return None


@lru_cache(maxsize=1)
def _printer():
    """sympy's LaTeX as Math-Verify reads it back: a function applied alone (it reads ``\\sin{(x)} \\cdot 2``
    as sin(2x)), products written out, and ``log`` as ``\\ln`` (``\\log`` is base 10 to it; Python's is e)."""
    from sympy.printing.latex import LatexPrinter

    class Printer(LatexPrinter):
        def _print_Function(self, expr, exp=None):
            return rf"\left({super()._print_Function(expr, exp)}\right)"

        def _print_log(self, expr, exp=None):
            return rf"\left({super()._print_log(expr, exp)}\right)"

    return Printer({"mul_symbol": "dot", "ln_notation": True})
