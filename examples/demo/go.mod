module goroscope.example/demo

go 1.26
