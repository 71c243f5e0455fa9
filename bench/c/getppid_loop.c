/* Independent reference for wirespeed's system-call figure: a plain C loop of getppid(),
 * timed by CLOCK_MONOTONIC. Prints one JSON object: {"ns_per_call": ..., "calls": ...}. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 5000000;
	struct timespec a, b;
	volatile pid_t sink;

	for (long i = 0; i < n / 10; i++) /* warm-up */
		sink = getppid();
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		sink = getppid();
	clock_gettime(CLOCK_MONOTONIC, &b);
	(void)sink;
	printf("{\"ns_per_call\": %.3f, \"calls\": %ld}\n",
	       ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n, n);
	return 0;
}
