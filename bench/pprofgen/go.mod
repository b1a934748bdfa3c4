module goroscope.bench/pprofgen

go 1.26
