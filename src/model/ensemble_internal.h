/* ensemble_internal.h: what the evaluator's files share (not for other modules): the plain
 * tree description the loaders fill (ensemble_spec) and ensemble.c checks and flattens, and
 * read access to a built model's trees for the exporter. */
#ifndef SURGE_MODEL_ENSEMBLE_INTERNAL_H
#define SURGE_MODEL_ENSEMBLE_INTERNAL_H

#include "model.h"

/* Limits that keep a hostile file from asking for unbounded memory. */
#define ENSEMBLE_TREES_MAX 100000u
#define ENSEMBLE_NODES_MAX (1u << 22) /* per tree */
#define ENSEMBLE_FEATURES_MAX (1u << 20)

/* One node as the source format gives it: leaves have left == right == -1 and their value in
 * value; splits go to left when x < value (and when x is missing and default_left is set). */
typedef struct ensemble_node {
    int32_t left, right;
    uint32_t feature;
    float value;
    uint8_t default_left;
} ensemble_node;

typedef struct ensemble_tree {
    uint32_t node_count;
    ensemble_node *nodes; /* node 0 is the root */
} ensemble_tree;

typedef struct ensemble_spec {
    uint32_t feature_count;
    uint32_t tree_count;
    ensemble_tree *trees;
    char objective[48];
    model_transform transform;
    float base_margin;
    float base_score; /* the margin before the objective's link: exp(base_margin) for exp */
    /* false: sum = base + tree 0 + tree 1 + ... (XGBoost); true: sum = (tree 0 + tree 1 + ...)
     * + base (ONNX Runtime) */
    bool base_last;
    char **feature_names; /* feature_count strings, or NULL */
} ensemble_spec;

void ensemble_spec_free(ensemble_spec *s);

/* Checks spec (every tree a tree: children in range, each node reached once from the root, no
 * NaN threshold or leaf, features < feature_count) and builds the flattened model. Takes
 * ownership of what spec holds whether it succeeds or not (spec is zeroed). what names the
 * source in messages ("XGBoost JSON", "ONNX"). */
model_ensemble *ensemble_build(ensemble_spec *spec, const char *what, surge_error *err);

/* The transform of a supported objective name; -1 when the name is not one. */
int ensemble_objective_transform(const char *name, model_transform *out);

/* The checked source trees of a built model (for export). */
const ensemble_spec *ensemble_source(const model_ensemble *m);

#endif
