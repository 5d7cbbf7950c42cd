"""Show: the command line, the Gradio app and the LangChain retriever, all through `rag.api.Citeline`."""
