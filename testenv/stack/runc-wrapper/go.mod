module cluster-init.local/testenv/runc-wrapper

go 1.26.0
