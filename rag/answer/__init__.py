"""Read and answer: the reader's short answer from the passages, the cited sentences, the support check."""
