module scenarios

go 1.27
