# The Vulkan device, included by the top-level Makefile.
#
# Shaders (shaders/*.comp) are compiled to SPIR-V with glslc into the build
# folder and embedded in the library as C arrays (shaders/embed.sh): no
# shader compiler is needed at run time. Shaders that read weights are
# compiled twice, the second time with float16 weights (-DWEIGHT_FP16).
# libvulkan itself is opened at run time (dlopen), so only libdrm and libdl
# are linked.

# Included before the Makefile's first rule: keep `make` meaning `make all`.
.DEFAULT_GOAL := all

VK_SHADER_SRCS := $(wildcard shaders/*.comp)
VK_F16_SHADERS := conv2d gemm depthwise transpose_conv
VK_SPV := $(VK_SHADER_SRCS:shaders/%.comp=$(BUILD)/shaders/%.spv) \
          $(VK_F16_SHADERS:%=$(BUILD)/shaders/%_f16.spv)
VK_EMBED_C := $(BUILD)/gen/vk_spirv_data.c
VK_EMBED_O := $(BUILD)/obj/gen/vk_spirv_data.o
VK_SRCS := $(wildcard drivers/vulkan/*.c)

LIB_OBJS += $(VK_SRCS:%.c=$(BUILD)/obj/%.o) $(VK_EMBED_O)
CPPFLAGS += $(shell pkg-config --cflags libdrm 2>/dev/null)
HALO_SYSTEM_LIBS += $(shell pkg-config --libs libdrm 2>/dev/null || echo -ldrm) -ldl
DEB_PACKAGES += libvulkan-dev glslc libdrm-dev mesa-vulkan-drivers
GLSLC ?= glslc
GLSLC_FLAGS := --target-env=vulkan1.1 -O -Ishaders

$(BUILD)/shaders/%_f16.spv: shaders/%.comp shaders/common.glsl
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) -DWEIGHT_FP16 $< -o $@

$(BUILD)/shaders/%.spv: shaders/%.comp shaders/common.glsl
	@mkdir -p $(dir $@)
	$(GLSLC) $(GLSLC_FLAGS) $< -o $@

$(VK_EMBED_C): $(VK_SPV) shaders/embed.sh
	@mkdir -p $(dir $@)
	sh shaders/embed.sh $@ $(VK_SPV)

$(VK_EMBED_O): $(VK_EMBED_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Tests pin Mesa's lavapipe (a Vulkan driver on the CPU) so they run the
# same on every machine; run a test binary by hand to use another driver.
# Under SANITIZE=1, tests/lsan.supp silences lavapipe's own leftovers.
VK_TEST_ENV := VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
ifeq ($(SANITIZE),1)
VK_TEST_ENV += LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp)
endif
