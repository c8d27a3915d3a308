module badpprof

go 1.27
