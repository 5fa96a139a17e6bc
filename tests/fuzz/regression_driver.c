/*
 * regression_driver.c — replays stored fuzz inputs through the same entry
 * point as the libFuzzer target (LLVMFuzzerTestOneInput), with any compiler:
 *
 *   fuzz_regression_<reader> DIR_OR_FILE...
 *
 * Every regular file under each directory (one level) is one input. Finding
 * no input at all is a failure, so a missing corpus cannot pass silently.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "regression_driver: cannot open %s\n", path);
        return -1;
    }
    size_t capacity = 4096, size = 0;
    unsigned char *data = malloc(capacity);
    size_t got;
    while (data != NULL && (got = fread(data + size, 1, capacity - size, f)) > 0) {
        size += got;
        if (size == capacity) {
            unsigned char *bigger = realloc(data, capacity * 2);
            if (bigger == NULL) break;
            data = bigger;
            capacity *= 2;
        }
    }
    fclose(f);
    if (data == NULL) return -1;
    printf("replay %s (%zu bytes)\n", path, size);
    fflush(stdout);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

int main(int argc, char **argv) {
    int inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "regression_driver: %s does not exist\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) != 0) return 1;
            inputs++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        if (dir == NULL) return 1;
        struct dirent *entry;
        char path[4096];
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] == '.') continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], entry->d_name);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            if (replay_file(path) != 0) {
                closedir(dir);
                return 1;
            }
            inputs++;
        }
        closedir(dir);
    }
    if (inputs == 0) {
        fprintf(stderr, "regression_driver: no inputs found\n");
        return 1;
    }
    printf("%d inputs replayed\n", inputs);
    return 0;
}
