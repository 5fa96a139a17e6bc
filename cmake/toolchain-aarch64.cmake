# cmake/toolchain-aarch64.cmake — cross build for 64-bit ARM Linux (AArch64)
# with Debian's gcc-aarch64-linux-gnu, run under qemu-aarch64 (qemu-user).
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DVECSCORE_OPENCL=OFF
#
# scripts/test-arm.sh installs what this needs and runs the test suites.
#
# Where the target's files come from (Debian 12):
#   build  compiler, C library and libgomp of the cross packages
#          (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross: /usr/aarch64-linux-gnu);
#          cmocka from multiarch (libcmocka-dev:arm64: /usr/lib/aarch64-linux-gnu).
#   run    every shared library from multiarch: libc6:arm64, libgomp1:arm64,
#          libcmocka0:arm64, found by the arm64 dynamic loader at its usual path
#          /lib/ld-linux-aarch64.so.1. Not qemu's -L with the cross sysroot:
#          its loader then picks libc from /lib/aarch64-linux-gnu, another
#          glibc build than its own, and threads hang in pthread_create.
# Configure with VECSCORE_OPENCL=OFF: the emulated runs have no OpenCL device
# worth testing (the OpenCL backend is tested natively, on PoCL), and the
# build then needs no arm64 OpenCL loader.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(VECSCORE_CROSS_TRIPLET aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${VECSCORE_CROSS_TRIPLET}-gcc)

# Target libraries and headers: the cross sysroot and the multiarch tree.
set(CMAKE_FIND_ROOT_PATH /usr/${VECSCORE_CROSS_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config (cmocka) reads only the target's .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${VECSCORE_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# ctest runs target executables through qemu-aarch64 (qemu-user; its default
# CPU model, "max", has Advanced SIMD). Override with -DVECSCORE_QEMU=PATH.
if(NOT VECSCORE_QEMU)
  find_program(VECSCORE_QEMU qemu-aarch64)
endif()
if(VECSCORE_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${VECSCORE_QEMU})
endif()
