module github.com/pickmyclass/pickmyclass/services/scheduler

go 1.26.8

require github.com/pickmyclass/pickmyclass/pkg v0.0.0

replace github.com/pickmyclass/pickmyclass/pkg => ../../pkg
