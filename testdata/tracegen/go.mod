module goroscope.test/tracegen

go 1.26.0
