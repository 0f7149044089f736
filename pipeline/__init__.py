"""Application services over the stages: ingest (file -> store -> derived data), recovery, uploads, review and
export. The CLI and the app call these; nothing in nlp/ or index/ imports them."""
