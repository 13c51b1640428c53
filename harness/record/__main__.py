"""``python -m harness.record [DIR]``: write the record's JSON Schemas (default docs/)."""

import json
import sys
from pathlib import Path

from harness.record.schema import schema_documents

out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
for name, schema in schema_documents().items():
    (out / name).write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / name}")
