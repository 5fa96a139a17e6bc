# devices prints every device string whole: a fake OpenCL ICD (tests/fake_icd.c)
# reports a name, vendor, platform, driver version and device version longer
# than any fixed field of vs_device, each ending in a marker.
# needs: opencl
[ -n "${VECSCORE_TEST_FAKE_ICD_VENDORS:-}" ] || fail "VECSCORE_TEST_FAKE_ICD_VENDORS is not set (see tests/CMakeLists.txt)"
[ -f "$VECSCORE_TEST_FAKE_ICD_VENDORS/fake.icd" ] || fail "no fake.icd in $VECSCORE_TEST_FAKE_ICD_VENDORS"
long='( long){28}'
OCL_ICD_VENDORS=$VECSCORE_TEST_FAKE_ICD_VENDORS run devices --json
expect_exit 0
expect_stdout_match "\"name\": \"vecscore fake device$long END-NAME\""
expect_stdout_match "\"vendor\": \"vecscore fake vendor$long END-VENDOR\""
expect_stdout_match "\"platform\": \"vecscore fake platform$long END-PLATFORM\""
expect_stdout_match "\"driver_version\": \"1.0 fake driver$long END-DRIVER\""
expect_stdout_match "\"device_version\": \"OpenCL 1.2 fake device version$long END-VERSION\""
OCL_ICD_VENDORS=$VECSCORE_TEST_FAKE_ICD_VENDORS run devices
expect_exit 0
expect_stdout_match "^opencl:0:0 +opencl-cpu +no +1 +1.0 GiB +yes +vecscore fake device$long END-NAME \\[vecscore fake platform$long END-PLATFORM, 1.0 fake driver$long END-DRIVER\\]$"
OCL_ICD_VENDORS=$VECSCORE_TEST_FAKE_ICD_VENDORS run --version
expect_exit 0
expect_stdout_match "opencl:0:0 \\(vecscore fake device$long END-NAME\\)$"
