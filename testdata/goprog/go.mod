module goroscope.test/goprog

go 1.26
