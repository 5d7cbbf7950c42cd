"""Load: files and corpora into articles (numbered lines, furniture marked), then sentences and chunks."""
