# virtio.h - make targets. `make test` runs everything CI runs.
.PHONY: all test demo bench guests clean compile
all: guests

include examples/port/port.mk

$(eval $(call port_guest,blk_test,tests/qemu/guest/blk_test.c))
$(eval $(call port_guest,net_test,tests/qemu/guest/net_test.c))
$(eval $(call port_guest,input_test,tests/qemu/guest/input_test.c))
$(eval $(call port_guest,gpu_test,tests/qemu/guest/gpu_test.c))
$(eval $(call port_guest,fault_test,tests/qemu/guest/fault_test.c))
$(eval $(call port_guest,blk_bench,bench/blk_bench.c))
$(eval $(call port_guest,net_bench,bench/net_bench.c))
$(eval $(call port_guest,gpu_bench,bench/gpu_bench.c))
$(eval $(call port_guest,demo,examples/demo.c))
$(eval $(call port_guest,net_ping,examples/net_ping.c))
$(eval $(call port_guest,input_echo,examples/input_echo.c))

test: guests
	python3 tests/run.py

demo: build/riscv64/demo.elf
	python3 examples/demo.py

bench: guests
	python3 bench/run.py

compile:
	python3 tests/compile/run.py

clean:
	rm -rf build
