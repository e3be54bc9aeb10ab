"""Report writers: text, json, sarif, github, junit, markdown."""
