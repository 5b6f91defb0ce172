// The rsdat client API: include this one header.
#pragma once

#include "rsdat/array.hpp"
#include "rsdat/client.hpp"
#include "rsdat/compute.hpp"
#include "rsdat/errors.hpp"
#include "rsdat/group.hpp"
#include "rsdat/local_cluster.hpp"
#include "rsdat/netcdf.hpp"
#include "rsdat/scan.hpp"
#include "rsdat/order.hpp"
#include "rsdat/phenology.hpp"
#include "rsdat/raster.hpp"
#include "rsdat/shape.hpp"
#include "rsdat/slurm_cluster.hpp"
#include "rsdat/store.hpp"
#include "rsdat/window.hpp"
#include "rsdat/zarr.hpp"
