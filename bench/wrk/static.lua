-- One fixed request (client_credentials, JWKS, discovery): wrk sends it pre-formatted.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
wrk.method = os.getenv("BENCH_METHOD")
wrk.path = os.getenv("BENCH_PATH")
wrk.body = os.getenv("BENCH_BODY")
wrk.headers = headers()
