"""Pure statistics on arrays: the derive() kernel (effects, impacts, indices, HTMT), measurement
quality and fit measures. Nothing here imports a result, a comparison or the fitting layer."""
