"""Datasets for federated training: a bundled default and loaders for real user-supplied files."""

from fedspan.data.cifar import load_cifar10
from fedspan.data.dataset import Dataset
from fedspan.data.digits import load_digits
from fedspan.data.errors import DataError
from fedspan.data.eurosat import load_eurosat
from fedspan.data.idx import load_idx_dataset, parse_idx, read_idx
from fedspan.data.registry import DATASET_NAMES, detect_format, load_dataset
from fedspan.data.statlog import load_statlog, parse_statlog

__all__ = [
    "DATASET_NAMES",
    "DataError",
    "Dataset",
    "detect_format",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_eurosat",
    "load_idx_dataset",
    "load_statlog",
    "parse_idx",
    "parse_statlog",
    "read_idx",
]
