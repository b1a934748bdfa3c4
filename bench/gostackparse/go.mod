module goroscope.bench/gostackparse

go 1.26

require github.com/DataDog/gostackparse v0.7.0
