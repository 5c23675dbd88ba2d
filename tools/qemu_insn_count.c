/*
 * Guest instruction counter for qemu user-mode emulation (TCG plugin API v1, qemu 7.2).
 *
 * Counts every guest instruction executed, by adding each translated block's instruction count
 * inline when the block runs (no callback per instruction, so the run stays fast). At exit it
 * prints "qemu_insn_count: N" to stderr, or writes N to the file given as out=PATH.
 * The count is exact for single-threaded guests; a multi-threaded guest's threads race on the
 * one counter (scripts/count_instructions.sh runs single-threaded work only).
 *
 * Build (scripts/count_instructions.sh does): gcc -shared -fPIC -O2 -I QEMU/include/qemu
 *   $(pkg-config --cflags glib-2.0) tools/qemu_insn_count.c -o qemu_insn_count.so
 * Use: qemu-aarch64 -L / -cpu cortex-a72 -plugin ./qemu_insn_count.so,out=count.txt PROGRAM ARGS
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t insn_count;
static char out_path[4096];

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count,
                                             qemu_plugin_tb_n_insns(tb));
}

static void on_exit(qemu_plugin_id_t id, void *user)
{
    (void)id;
    (void)user;
    if (out_path[0]) {
        FILE *f = fopen(out_path, "w");
        if (f) {
            fprintf(f, "%" PRIu64 "\n", insn_count);
            fclose(f);
            return;
        }
    }
    fprintf(stderr, "qemu_insn_count: %" PRIu64 "\n", insn_count);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else {
            fprintf(stderr, "qemu_insn_count: unknown argument '%s' (expected out=PATH)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
