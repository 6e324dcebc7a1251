#pragma once
// Everything cellscape offers a C++ program, in one include. Single headers
// work too, e.g. #include <cellscape/analysis/hessian.hpp>; docs/library.md
// shows a consumer.
//
// cells/     genotypes of the DARTS space, width and depth, variants, the zoo (no torch)
// nn/        the DARTS evaluation network and its fast operations
// data/      dataset readers and augmentation
// train/     training with checkpoints and resume
// analysis/  the Objective, Hessian spectra, loss surfaces, gradient variance
// study/     a whole study: cells x settings -> files and a summary
// rank/      an analyst's table of cells with accuracies, measured and ranked
// stats/     statistics of tables: intervals, rank tests, the cluster bootstrap, power, mediation
// io/        HDF5, Graphviz, output locks
// util/      the error type, enum names, progress, interruption, devices, memory, seeded randomness
#include "cellscape/analysis/directions.hpp"
#include "cellscape/analysis/gradient_variance.hpp"
#include "cellscape/analysis/gradient_variance_file.hpp"
#include "cellscape/analysis/hessian.hpp"
#include "cellscape/analysis/hessian_file.hpp"
#include "cellscape/analysis/hessian_report.hpp"
#include "cellscape/analysis/lanczos.hpp"
#include "cellscape/analysis/model.hpp"
#include "cellscape/analysis/objective.hpp"
#include "cellscape/analysis/proxies.hpp"
#include "cellscape/analysis/proxies_file.hpp"
#include "cellscape/analysis/surface.hpp"
#include "cellscape/analysis/surface_file.hpp"
#include "cellscape/cells/cell_report.hpp"
#include "cellscape/cells/cell_spec.hpp"
#include "cellscape/cells/diagram.hpp"
#include "cellscape/cells/genotype.hpp"
#include "cellscape/cells/metrics.hpp"
#include "cellscape/cells/operation.hpp"
#include "cellscape/cells/sampling.hpp"
#include "cellscape/cells/zoo.hpp"

#include "cellscape/data/augmentation.hpp"
#include "cellscape/data/dataset.hpp"
#include "cellscape/io/graphviz.hpp"
#include "cellscape/io/hdf5.hpp"
#include "cellscape/io/output_lock.hpp"
#include "cellscape/io/toml_table.hpp"
#include "cellscape/nn/convolution.hpp"
#include "cellscape/nn/network.hpp"
#include "cellscape/nn/network_config.hpp"
#include "cellscape/nn/operations.hpp"
#include "cellscape/nn/packed_layout.hpp"
#include "cellscape/rank/cell_table.hpp"
#include "cellscape/rank/rank_report.hpp"
#include "cellscape/stats/bootstrap.hpp"
#include "cellscape/stats/mediation.hpp"
#include "cellscape/stats/power.hpp"
#include "cellscape/stats/rank_correlation.hpp"
#include "cellscape/stats/statistics.hpp"
#include "cellscape/study/plan.hpp"
#include "cellscape/study/replicates.hpp"
#include "cellscape/study/study.hpp"
#include "cellscape/study/study_config.hpp"
#include "cellscape/study/summary_file.hpp"
#include "cellscape/train/checkpoint.hpp"
#include "cellscape/train/evaluation.hpp"
#include "cellscape/train/packed_trainer.hpp"
#include "cellscape/train/trainer.hpp"
#include "cellscape/train/training_config.hpp"
#include "cellscape/util/device.hpp"
#include "cellscape/util/error.hpp"
#include "cellscape/util/hash.hpp"
#include "cellscape/util/interrupt.hpp"
#include "cellscape/util/memory.hpp"
#include "cellscape/util/names.hpp"
#include "cellscape/util/progress.hpp"
#include "cellscape/util/random.hpp"
#include "cellscape/util/version.hpp"
