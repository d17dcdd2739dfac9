/*
 * bench-curl-empty: a program that does nothing but is linked against libcurl, for bench_runner's
 * start-up baseline (spawn to exit is the dynamic loading of libcurl and its libraries alone).
 */
#include <curl/curl.h>

/* keeps the library needed (--as-needed) without calling into it */
CURLcode (*volatile bench_curl_keep)(long) = curl_global_init;

int main(void)
{
    return 0;
}
