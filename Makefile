# virtio.h - make targets. `make test` runs everything CI runs.
.PHONY: all test demo bench fuzz fuzz-smoke unit unit-run guests clean compile
all: guests

include examples/port/port.mk

$(eval $(call port_guest,hello,examples/port/hello.c))
$(eval $(call port_guest,blk_test,tests/qemu/guest/blk_test.c))

test: guests
	python3 tests/run.py

compile:
	python3 tests/compile/run.py

clean:
	rm -rf build
