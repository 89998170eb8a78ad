/*
 * tool.c - a trivial driver utility (nvidia-debugdump, nvidia-persistenced,
 * nvidia-cuda-mps-control, ...): prints its name and the driver version.
 * Built once per tool with -DTOOL_NAME and -DNV_DRIVER_VERSION.
 */
#include <stdio.h>

#ifndef TOOL_NAME
#error "TOOL_NAME must be defined"
#endif
#ifndef NV_DRIVER_VERSION
#error "NV_DRIVER_VERSION must be defined"
#endif

int main(void)
{
    printf("%s (simulated) version %s\n", TOOL_NAME, NV_DRIVER_VERSION);
    return 0;
}
