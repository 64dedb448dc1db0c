"""The daily new-activity report: query, parse, diff and render. Pure: the AWS edge lives elsewhere."""
