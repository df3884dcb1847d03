-- Mobile operators by MCC-MNC, from the operators seed.

with

operators as (

    select * from {{ ref('operators') }}

)

select
    mcc_mnc,
    mcc,
    mnc,
    country,
    country_name,
    region,
    operator_name,
    -- the stamp of the run that built the row (macro build_stamp)
    {{ build_stamp() }} as _built_at
from operators
