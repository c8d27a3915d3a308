module profilegen

go 1.27
