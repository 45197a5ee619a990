"""What kind of text a corpus holds, with the evidence: source code (and its language), natural
language, biological sequences, tabular/structured text, or other.

The guess is made from simple, explainable measurements on a sample (alphabet shares, line shapes,
keyword counts, file extensions) so that every claim can be shown to the user as a number. It feeds
the tokenizer recommendation and the rough characters-per-token rule used before a tokenizer exists.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import PurePath

SAMPLE_CHARS = 400_000  # enough for stable shares; bounded so a guess takes well under a second
DOC_CHARS = 8_000  # per document, so one huge file cannot stand for the whole corpus
MIN_LINES = 3

KINDS = ("code", "natural language", "biological sequences", "tabular", "other")
# Rough characters per token of a byte-level BPE trained on such text, used until a tokenizer is chosen.
CHARS_PER_TOKEN = {"code": 3.0, "natural language": 4.0, "biological sequences": 4.0, "tabular": 3.0,
                   "other": 3.5}

CODE_EXTENSIONS = {
    ".py": "Python", ".js": "JavaScript", ".ts": "TypeScript", ".java": "Java", ".c": "C", ".h": "C",
    ".cc": "C++", ".cpp": "C++", ".hpp": "C++", ".go": "Go", ".rs": "Rust", ".rb": "Ruby", ".php": "PHP",
    ".sh": "Shell", ".sql": "SQL", ".html": "HTML", ".css": "CSS", ".kt": "Kotlin", ".swift": "Swift",
    ".cs": "C#", ".scala": "Scala", ".jl": "Julia", ".lua": "Lua",
}
LANGUAGE_SIGNS = {  # language: (what the patterns look for, in words; the patterns)
    "Python": ("def/class lines, imports, self.", [
        r"^[ \t]*(def|class)\s+\w+.*:\s*$", r"^[ \t]*(import\s+\w|from\s+\S+\s+import\b)", r"\bself\.",
        r"^[ \t]*(elif|except|with)\b.*:\s*$"]),
    "JavaScript": ("function, const/let/var, =>, console.log", [
        r"\bfunction\s*\w*\s*\(", r"^[ \t]*(const|let|var)\s+\w+\s*=", r"=>", r"\bconsole\.log\b"]),
    "Java": ("public class/void, System.out, java imports", [
        r"\bpublic\s+(static\s+)?(class|void|int|String)\b", r"\bSystem\.out\.", r"^[ \t]*import\s+java\."]),
    "C/C++": ("#include, std::, printf, C function heads", [
        r"^[ \t]*#include\s*[<\"]", r"\bstd::", r"\bprintf\s*\(", r"^[ \t]*(int|void|char)\s+\**\w+\s*\("]),
    "Go": ("package, func, :=, fmt.", [r"^package\s+\w+\s*$", r"^func\s", r":=", r"\bfmt\."]),
    "Rust": ("fn, let mut, impl, println!", [r"\bfn\s+\w+", r"\blet\s+mut\b", r"^[ \t]*impl\b", r"\bprintln!"]),
    "HTML/XML": ("tags", [r"^[ \t]*</?[a-zA-Z][\w-]*(\s[^>]*)?>"]),
    "Shell": ("#!/bin/sh, echo/export/fi/done", [r"^#!/bin/(ba)?sh", r"^[ \t]*(echo|export|fi|then|done|esac)\b"]),
    "SQL": ("SELECT/INSERT/CREATE TABLE", [
        r"(?i)^[ \t]*(select\s.+\sfrom|insert\s+into|create\s+table|update\s+\w+\s+set)\b"]),
}
_SIGNS = {lang: [re.compile(p, re.MULTILINE) for p in pats] for lang, (_, pats) in LANGUAGE_SIGNS.items()}
_CODE_LINE = re.compile(
    r"[;{}]\s*$|^[ \t]*[}\])]|\)\s*:?\s*$|:\s*$|^[ \t]*(//|/\*|\*/)"
    r"|^[ \t]*(import|from|def|class|return|if|for|while|function|const|let|var|public|private|fn|func|package)\b"
)
_CODE_SYMBOLS = set("{}[]()<>=;:_*&|\\/+%!")
_WORD = re.compile(r"[^\W\d_]+")
ENGLISH_STOPWORDS = set("the of and to in is that it for was on are with as be by this at from or an not have".split())
STOPWORDS = ENGLISH_STOPWORDS | set(
    "de la le et les des en un une du que est pour dans "  # French
    "der die und das den ist nicht mit von zu sich "  # German
    "el los las y del que se por con para "  # Spanish
    "il di che della per non sono "  # Italian
    .split()
)
DNA = set("ACGTN")
RNA = set("ACGUN")
AMINO_ACIDS = set("ACDEFGHIKLMNPQRSTVWYBJOUXZ*-")
FASTA_HEADER = (">", ";")
DELIMITERS = {",": "commas", "\t": "tabs", "|": "pipes", ";": "semicolons"}


@dataclass
class DomainGuess:
    kind: str  # one of KINDS
    language: str = ""  # the programming language, script or sequence type when obvious
    evidence: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind} ({self.language})" if self.language else self.kind

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def guess_domain(texts: list[str], paths: list[str] = ()) -> DomainGuess:
    """Guess the corpus's domain from sample documents (and their file names, when they come from files)."""
    sample, total = [], 0
    for text in texts:
        piece = text[:DOC_CHARS]
        sample.append(piece)
        total += len(piece)
        if total >= SAMPLE_CHARS:
            break
    joined = "\n".join(sample)
    lines = [line for line in joined.splitlines() if line.strip()]
    if not lines:
        return DomainGuess("other", evidence=["The sample holds no text (only empty documents)."])
    chars = Counter(joined)
    # Most specific first; delimited rows come last because prose lines can share a comma count.
    guesses = (lambda: _biological(lines), lambda: _json_lines(lines), lambda: _code(joined, lines, chars, paths),
               lambda: _natural(joined, chars), lambda: _delimited(lines))
    for guess in guesses:
        if found := guess():
            return found
    return DomainGuess("other", evidence=["No clear sign of code, prose, sequences or tables in the sample."],
                       measures=_shape_measures(lines, chars))


def _count(chars: Counter, wanted) -> int:
    return sum(n for c, n in chars.items() if wanted(c))


def _shape_measures(lines: list[str], chars: Counter) -> dict[str, float]:
    visible = _count(chars, lambda c: not c.isspace()) or 1
    return {
        "code_line_share": sum(1 for line in lines if _CODE_LINE.search(line)) / len(lines),
        "symbol_share": _count(chars, lambda c: c in _CODE_SYMBOLS) / visible,
    }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _biological(lines: list[str]) -> DomainGuess | None:
    headers = sum(1 for line in lines if line.startswith(FASTA_HEADER))
    residues = Counter("".join(line.strip() for line in lines if not line.startswith(FASTA_HEADER)))
    size = sum(residues.values())
    if size < 50:
        return None
    upper = Counter()
    for c, n in residues.items():
        upper[c.upper()] += n
    dna = sum(upper[c] for c in DNA) / size
    rna = sum(upper[c] for c in RNA) / size
    protein = sum(upper[c] for c in AMINO_ACIDS) / size
    spaces = _count(residues, str.isspace) / size
    measures = {"dna_share": dna, "rna_share": rna, "protein_share": protein, "space_share": spaces}
    evidence = [f"FASTA headers ('>') on {_plural(headers, 'line')}."] if headers else []
    if max(dna, rna) >= 0.9:
        kind = "RNA" if upper["U"] > upper["T"] else "DNA"
        letters = "A, C, G, U" if kind == "RNA" else "A, C, G, T"
        evidence.insert(0, f"{_pct(max(dna, rna))} of the sequence characters are {letters} (or N).")
        return DomainGuess("biological sequences", kind, evidence, measures)
    lowercase = _count(residues, str.islower) / size
    if protein >= 0.95 and spaces < 0.02 and lowercase < 0.05:
        evidence.insert(0, f"{_pct(protein)} of the characters are amino-acid letters, in upper case, "
                           "with no spaces inside lines.")
        return DomainGuess("biological sequences", "protein", evidence, measures)
    return None


def _json_lines(lines: list[str]) -> DomainGuess | None:
    json_like = sum(1 for line in lines if line.lstrip()[:1] in "{[" and line.rstrip()[-1:] in "}]")
    if len(lines) < MIN_LINES or json_like / len(lines) < 0.8:
        return None
    return DomainGuess("tabular", "JSON", [f"{_pct(json_like / len(lines))} of lines are JSON objects or lists."],
                       {"json_line_share": json_like / len(lines)})


def _delimited(lines: list[str]) -> DomainGuess | None:
    if len(lines) < MIN_LINES:
        return None
    for delimiter, name in DELIMITERS.items():
        counts = Counter(line.count(delimiter) for line in lines)
        fields, lines_with = counts.most_common(1)[0]
        share = lines_with / len(lines)
        least = 1 if delimiter == "\t" else 2  # prose often has one comma per line; tables have several
        if fields >= least and share >= 0.8:
            return DomainGuess("tabular", f"{name[:-1]}-separated",
                               [f"{_pct(share)} of lines have exactly {fields} {name}: rows of {fields + 1} fields."],
                               {"delimited_line_share": share})
    return None


def _code(joined: str, lines: list[str], chars: Counter, paths) -> DomainGuess | None:
    measures = _shape_measures(lines, chars)
    by_extension = Counter(CODE_EXTENSIONS.get(PurePath(p).suffix.lower()) for p in paths)
    by_extension.pop(None, None)
    signs = _sign_counts(joined)
    evidence = _code_evidence(measures, signs)
    if paths and by_extension and sum(by_extension.values()) / len(paths) >= 0.6:
        language, n = by_extension.most_common(1)[0]
        return DomainGuess("code", language,
                           [f"{n:,} of {len(paths):,} sampled files have {language} file extensions."] + evidence,
                           measures)
    if measures["code_line_share"] < 0.35 or measures["symbol_share"] < 0.03:
        return None
    return DomainGuess("code", _language_by_signs(signs, len(lines)), evidence, measures)


def _sign_counts(joined: str) -> Counter:
    return Counter({lang: sum(len(p.findall(joined)) for p in pats) for lang, pats in _SIGNS.items()})


def _language_by_signs(signs: Counter, n_lines: int) -> str:
    (best, hits), (_, runner_up) = signs.most_common(2)
    return best if hits >= max(3, 0.03 * n_lines) and hits >= 2 * runner_up else ""


def _code_evidence(measures: dict, signs: Counter) -> list[str]:
    evidence = [
        f"{_pct(measures['code_line_share'])} of lines look like code (end in ; {{ }} or :, or start with a keyword).",
        f"{_pct(measures['symbol_share'])} of the visible characters are code symbols such as ( ) = : {{ }}.",
    ]
    best, hits = signs.most_common(1)[0]
    if hits:
        evidence.append(f"{hits:,} {best} constructs ({LANGUAGE_SIGNS[best][0]}).")
    return evidence


def _dominant_script(chars: Counter) -> tuple[str, float]:
    scripts = Counter()
    for c, n in chars.items():
        if c.isalpha():
            scripts[unicodedata.name(c, "UNKNOWN").split()[0]] += n
    if not scripts:
        return "", 0.0
    script, n = scripts.most_common(1)[0]
    return (script if script == "CJK" else script.title()), n / sum(scripts.values())


def _natural(joined: str, chars: Counter) -> DomainGuess | None:
    words = [w.lower() for w in _WORD.findall(joined)]
    if not words:
        return None
    letters_and_spaces = (_count(chars, str.isalpha) + chars[" "]) / len(joined)
    stop_share = sum(1 for w in words if w in STOPWORDS) / len(words)
    english_share = sum(1 for w in words if w in ENGLISH_STOPWORDS) / len(words)
    script, script_share = _dominant_script(chars)
    measures = {"letter_space_share": letters_and_spaces, "stopword_share": stop_share, "script_share": script_share}
    # Latin-script prose is full of function words; other scripts are judged on letters alone.
    if letters_and_spaces < 0.7 or (script == "Latin" and stop_share < 0.08):
        return None
    evidence = [f"{_pct(letters_and_spaces)} of characters are letters or spaces.",
                f"{_pct(script_share)} of letters are in the {script} script."]
    if stop_share:
        common = Counter(w for w in words if w in STOPWORDS).most_common(5)
        evidence.append(f"{_pct(stop_share)} of words are common function words ({', '.join(w for w, _ in common)}).")
    evidence.append(f"Words average {sum(map(len, words)) / len(words):.1f} letters.")
    language = "English" if english_share >= 0.15 else f"{script} script"
    return DomainGuess("natural language", language, evidence, measures)
