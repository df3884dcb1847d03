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
    operator_name
from operators
