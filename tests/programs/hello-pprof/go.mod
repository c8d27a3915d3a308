module hellopprof

go 1.27
