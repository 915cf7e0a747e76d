"""Our Keras 3 implementation of MSD_musicnn (Pons & Serra 2019), loadable from its TF-1 checkpoint.

The architecture follows the original ``musicnn/models.py`` (``build_musicnn`` with 64 mid-end
filters and 200 back-end units) and the checkpoint's variable names and shapes:

- front end on a (187 frames x 96 mel bands) log-mel patch, after a 1-channel batch norm:
  two "timbral" convolutions (7 x 38 and 7 x 67, 204 filters each, valid in frequency) and three
  "temporal" ones (128 x 1, 64 x 1, 32 x 1, 51 filters each, same padding), each ReLU, batch norm
  and max over frequency -> 561 features per frame;
- mid end: three 7-frame 1-D convolutions of 64 filters (ReLU, batch norm), the 2nd and 3rd
  residual, all densely concatenated with the front end -> 753 features per frame;
- back end: max and mean over time, interleaved (max0, mean0, max1, ...) as the original's
  flatten of a (753, 2) tensor, batch norm, dense 200 + ReLU + batch norm (the "penultimate"
  layer), dense 50 + sigmoid = the 50 Million Song Dataset tags.

The model has three outputs: ``tags`` (50), ``penultimate`` (200) and ``pooled`` (the original's
``mean_pool`` then ``max_pool``, 753 + 753): the last two are the embeddings a genre head can use.
Batch-norm epsilon is 1e-3, the TF-1 default the checkpoint was trained with.
"""
from __future__ import annotations

import numpy as np

N_FRAMES = 187
N_MELS = 96
TIMBRAL_WIDTHS = (38, 67)  # int(0.4 * 96), int(0.7 * 96)
TEMPORAL_LENGTHS = (128, 64, 32)
FRONTEND_FILTERS = (204, 51)  # int(1.6 * 128), int(1.6 * 32)
MIDEND_FILTERS = 64
BACKEND_UNITS = 200
N_TAGS = 50
EPSILON = 1e-3


# Our layer -> the checkpoint's variable scope, in the order the original creates them.
CONV_SCOPES = {
    "timbral_38": "conv2d", "timbral_67": "conv2d_1",
    "temporal_128": "conv2d_2", "temporal_64": "conv2d_3", "temporal_32": "conv2d_4",
    "midend_1": "conv2d_5", "midend_2": "conv2d_6", "midend_3": "conv2d_7",
    "backend_dense": "dense", "tag_logits": "dense_1",
}
NORM_SCOPES = {
    "input_bn": "batch_normalization",
    "timbral_38_bn": "batch_normalization_1", "timbral_67_bn": "batch_normalization_2",
    "temporal_128_bn": "batch_normalization_3", "temporal_64_bn": "batch_normalization_4",
    "temporal_32_bn": "batch_normalization_5",
    "midend_1_bn": "batch_normalization_6", "midend_2_bn": "batch_normalization_7",
    "midend_3_bn": "batch_normalization_8",
    "pool_bn": "batch_normalization_9", "penultimate": "batch_normalization_10",
}


def _frequency_max(x, name: str):
    """Max over the whole (remaining) frequency axis: (batch, frames, bins, filters) -> (batch, frames, filters)."""
    from keras import layers

    x = layers.MaxPooling2D(pool_size=(1, x.shape[2]), name=f"{name}_freq_max")(x)
    return layers.Reshape((x.shape[1], x.shape[3]), name=f"{name}_squeeze")(x)


def _frontend(spectrogram):
    from keras import layers

    x = layers.Reshape((N_FRAMES, N_MELS, 1), name="add_channel")(spectrogram)
    x = layers.BatchNormalization(epsilon=EPSILON, name="input_bn")(x)
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)), name="time_pad")(x)
    features = []
    for width in TIMBRAL_WIDTHS:
        name = f"timbral_{width}"
        y = layers.Conv2D(FRONTEND_FILTERS[0], (7, width), activation="relu", name=name)(padded)
        y = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_bn")(y)
        features.append(_frequency_max(y, name))
    for length in TEMPORAL_LENGTHS:
        name = f"temporal_{length}"
        y = layers.Conv2D(FRONTEND_FILTERS[1], (length, 1), padding="same", activation="relu", name=name)(x)
        y = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_bn")(y)
        features.append(_frequency_max(y, name))
    return layers.Concatenate(name="frontend")(features)


def _midend(frontend):
    from keras import layers

    outputs = [frontend]
    x = frontend
    for i in (1, 2, 3):
        y = layers.Conv1D(MIDEND_FILTERS, 7, padding="same", activation="relu", name=f"midend_{i}")(x)
        y = layers.BatchNormalization(epsilon=EPSILON, name=f"midend_{i}_bn")(y)
        x = y if i == 1 else layers.Add(name=f"midend_{i}_residual")([y, x])
        outputs.append(x)
    return layers.Concatenate(name="midend")(outputs)


def build_musicnn():
    """The MSD_musicnn network (inference only: dropout is inactive at inference anyway)."""
    import keras
    from keras import layers

    spectrogram = keras.Input((N_FRAMES, N_MELS), name="log_mel")
    features = _midend(_frontend(spectrogram))
    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(features)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(features)
    n = features.shape[-1]
    interleaved = layers.Concatenate(name="max_mean")(
        [layers.Reshape((n, 1))(max_pool), layers.Reshape((n, 1))(mean_pool)])
    x = layers.Flatten(name="max_mean_flat")(interleaved)
    x = layers.BatchNormalization(epsilon=EPSILON, name="pool_bn")(x)
    x = layers.Dense(BACKEND_UNITS, activation="relu", name="backend_dense")(x)
    penultimate = layers.BatchNormalization(epsilon=EPSILON, name="penultimate")(x)
    logits = layers.Dense(N_TAGS, name="tag_logits")(penultimate)
    tags = layers.Activation("sigmoid", name="tags")(logits)
    pooled = layers.Concatenate(name="pooled")([mean_pool, max_pool])
    return keras.Model(spectrogram, {"tags": tags, "penultimate": penultimate, "pooled": pooled},
                       name="musicnn_msd")


def load_checkpoint_weights(model, read_variable) -> None:
    """Copy the checkpoint's weights in; ``read_variable(name)`` returns one checkpoint tensor.

    The mid end's TF-1 2-D kernels (7, channels, 1, filters) become Conv1D kernels (7, channels, filters).
    """
    for layer_name, scope in CONV_SCOPES.items():
        layer = model.get_layer(layer_name)
        kernel = np.asarray(read_variable(f"{scope}/kernel"))
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            kernel = kernel.reshape(expected)
        layer.set_weights([kernel, np.asarray(read_variable(f"{scope}/bias"))])
    for layer_name, scope in NORM_SCOPES.items():
        layer = model.get_layer(layer_name)
        layer.set_weights([np.asarray(read_variable(f"{scope}/{part}"))
                           for part in ("gamma", "beta", "moving_mean", "moving_variance")])
