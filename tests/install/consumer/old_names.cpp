// A consumer written against cellscape 0.2's setting names: it still builds
// and means the same, and the compiler names each setting's current name
// (run-consumer-test.sh checks the warning's sentence).
#include <cellscape/analysis/hessian.hpp>

#include <cstdio>

int main() {
    cellscape::EigenOptions options;
    options.krylov_dimension = 12;
    options.tolerance = 1e-6;
    const cellscape::EigenOptions current = options.in_current_names();
    std::printf("krylov_dimension 12 -> ncv %lld, tolerance 1e-6 -> tol %g\n", static_cast<long long>(current.ncv),
                current.tol);
    return current.ncv == 12 && current.tol == 1e-6 ? 0 : 1;
}
