"""What a visitor may read and where what they make is kept: their own folders under the runs folder.

Hosted, each visitor has a namespace, a folder named for them (`Visitor.folder_name`) inside each
kind of thing a visitor makes, so one visitor's upload, tokenizer or cache never replaces or reveals
another's, and their storage can be counted:

```
runs/.uploads/<visitor>/                uploaded datasets
runs/.tokenizers/<visitor>/             tokenizers saved in the Tokenizer tab
runs/.quickstart-tokenizers/<visitor>/  tokenizers Quick start trained
runs/.token-cache/<visitor>/            the tokenised training data of their runs (runs/folder.py)
```
Locally there is one user, and these are the shared folders themselves, as before. A visitor's
`AccessPolicy` lets them read inside their uploads and their tokenizers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clm_gui.data.uploads import UPLOADS_DIR
from clm_gui.hosting.ownership import MACHINE, Visitor
from clm_gui.runs.folder import QUICKSTART_TOKENIZERS_DIR, SAVED_TOKENIZERS_DIR, TOKEN_CACHE_DIR, RunDir
from clm_gui.security import AccessPolicy


@dataclass(frozen=True)
class VisitorFolders:
    uploads: Path
    tokenizers: Path
    quickstart_tokenizers: Path
    token_cache: Path

    def all(self) -> tuple[Path, ...]:
        """Every folder whose bytes count against the visitor's storage quota."""
        return (self.uploads, self.tokenizers, self.quickstart_tokenizers, self.token_cache)

    def readable(self) -> tuple[Path, ...]:
        """What the visitor may name as a dataset or tokenizer: their uploads and their tokenizers."""
        return (self.uploads, self.tokenizers, self.quickstart_tokenizers)


def is_hosted_visitor(visitor: Visitor) -> bool:
    """Everyone but the machine's own user comes from a hosted app (locally, `visitor_for` gives the machine)."""
    return visitor.key != MACHINE


def visitor_folders(runs_root: Path, visitor: Visitor) -> VisitorFolders:
    runs_root = Path(runs_root)
    kinds = (UPLOADS_DIR, SAVED_TOKENIZERS_DIR, QUICKSTART_TOKENIZERS_DIR, TOKEN_CACHE_DIR)
    own = visitor.folder_name if is_hosted_visitor(visitor) else ""
    return VisitorFolders(*(runs_root / kind / own if own else runs_root / kind for kind in kinds))


def visitor_policy(runs_root: Path, visitor: Visitor | None, hosted: bool) -> AccessPolicy:
    """What `visitor` may read: everything locally; hosted, their own folders (none while unknown)."""
    if not hosted:
        return AccessPolicy()
    readable = visitor_folders(runs_root, visitor).readable() if visitor is not None else ()
    return AccessPolicy(hosted=True, readable=readable)


def keep_caches_with_owner(run: RunDir, visitor: Visitor) -> None:
    """Hosted: the run's token cache goes into its owner's cache folder, so it counts as theirs."""
    if is_hosted_visitor(visitor):
        run.record_cache_folder(visitor.folder_name)
