/* The predictor's row-group decoders alone: the AVX2 one (16 rows at once) against the AVX-512 one
 * (32 rows), on residuals of a given mode and shape, each decoding in place as the pipeline does,
 * and checking that both give the same values (docs/DESIGN.md, "Speed (session 28)").
 *   cmake --build build-codec --target h5sqeazy
 *   cc -O2 -Icsrc/stages bench/predict_rows.c -Lbuild-codec -lh5sqeazy -Wl,-rpath,$PWD/build-codec -o /tmp/predict_rows
 *   /tmp/predict_rows                       the shapes of the test stacks' planes
 *   /tmp/predict_rows MODE ES X ROWS        one shape (modes: 1 MED, 2 AVG, 4 AVG3D, 5 AVGNE)
 * Prints ns per element, the best of 300 calls for each decoder, calls interleaved. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "predict.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef size_t (*dec_rows_fn)(int, size_t, const void *, void *, const void *, const void *, size_t, size_t, uint32_t,
                              sqz_pred_carry *);

static int run(int mode, size_t es, size_t X, size_t rows)
{
    const size_t n = rows * X * es;
    uint8_t *z = malloc(n), *out[2] = {malloc(n), malloc(n)}, *up = malloc(2 * X * es), *pp = malloc(n);
    if (!z || !out[0] || !out[1] || !up || !pp) return 1;
    srand(1);
    for (size_t i = 0; i < n; i++) { z[i] = (uint8_t)(rand() & 7); pp[i] = (uint8_t)rand(); }  /* small residuals */
    for (size_t i = 0; i < 2 * X * es; i++) up[i] = (uint8_t)rand();
    const dec_rows_fn fn[2] = {sqz_predict_dec_rows_avx2, sqz_predict_dec_rows_avx512};
    double best[2] = {1e9, 1e9};
    size_t done[2] = {0, 0};
    for (int r = 0; r < 300; r++)
        for (int d = 0; d < 2; d++) {
            memcpy(out[d], z, n);  /* in place, from the cache, as after the entropy decoder */
            const double t = now();
            done[d] = fn[d](mode, es, out[d], out[d], up, pp, X, rows, 0, NULL);
            const double e = now() - t;
            if (e < best[d]) best[d] = e;
        }
    const size_t both = done[0] < done[1] ? done[0] : done[1];
    const int same = memcmp(out[0], out[1], both * X * es) == 0;
    char cell[2][32];
    for (int d = 0; d < 2; d++)
        if (done[d]) snprintf(cell[d], sizeof cell[d], "%.3f", best[d] / (double)(rows * X) * 1e9);
        else snprintf(cell[d], sizeof cell[d], "not taken");
    printf("| %d | %zu | %zu | %zu | %s | %s | %s |\n", mode, es, X, rows, cell[0], cell[1], same ? "yes" : "NO");
    free(z); free(out[0]); free(out[1]); free(up); free(pp);
    return !same;
}

int main(int argc, char **argv)
{
    printf("| mode | bytes | X | rows | AVX2 ns/element | AVX-512 ns/element | same values |\n|---:|---:|---:|---:|---:|---:|---|\n");
    if (argc == 5) return run(atoi(argv[1]), (size_t)atoi(argv[2]), (size_t)atoi(argv[3]), (size_t)atoi(argv[4]));
    /* each stack's mode (auto) and plane: interior rows are Y - 1 */
    static const int shapes[][4] = {{5, 2, 667, 509}, {4, 2, 94, 85}, {5, 1, 389, 234}, {4, 2, 128, 127},
                                    {5, 2, 209, 117}, {4, 2, 256, 255}, {2, 2, 162, 132}, {1, 2, 128, 127}};
    int bad = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        bad |= run(shapes[i][0], (size_t)shapes[i][1], (size_t)shapes[i][2], (size_t)shapes[i][3]);
    return bad;
}
