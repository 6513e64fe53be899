// Test support: the harness and fakes live here.
